"""factory_boy factories for the rows tests need; states are set directly only in fixtures."""

import factory

from arkindex.corpora.models import Corpus, CorpusMembership, Level
from arkindex.users.models import User
from arkindex.users.tokens import issue_token
from ponos.models import Agent, Farm, FarmMembership, Task
from process.models import Process, ProcessMode, Worker, WorkerRun, WorkerVersion


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    display_name = factory.Sequence(lambda n: f"User {n}")
    password = factory.PostGenerationMethodCall("set_password", "hunter22hunter")

    @factory.post_generation
    def token(user, create, extracted, **kwargs):
        user.save()
        if create:
            user.auth_token_key = issue_token(user)


class CorpusFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Corpus

    name = factory.Sequence(lambda n: f"Corpus {n}")


class CorpusMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CorpusMembership

    level = Level.GUEST


class FarmFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Farm

    name = factory.Sequence(lambda n: f"Farm {n}")


class FarmMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FarmMembership

    level = Level.GUEST


class AgentFactory(factory.django.DjangoModelFactory):
    """An agent; its clear token is kept on the instance as `.clear_token`."""

    class Meta:
        model = Agent
        skip_postgeneration_save = True

    farm = factory.SubFactory(FarmFactory)
    hostname = factory.Sequence(lambda n: f"host{n}")
    cpu_cores = 4
    cpu_frequency = 2_000_000_000
    ram_total = 16 * 1024**3
    token_hash = factory.Sequence(lambda n: f"placeholder{n}")

    @factory.post_generation
    def clear_token(agent, create, extracted, **kwargs):
        agent.clear_token = agent.set_token()
        if create:
            agent.save()


class WorkerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Worker

    name = factory.Sequence(lambda n: f"Worker {n}")
    slug = factory.Sequence(lambda n: f"worker-{n}")
    type = "recognizer"


class WorkerVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WorkerVersion

    worker = factory.SubFactory(WorkerFactory)
    version = factory.Sequence(lambda n: n + 1)
    docker_image = "registry.example.com/worker:latest"
    command = "echo hello"


class ProcessFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Process

    name = factory.Sequence(lambda n: f"Process {n}")
    mode = ProcessMode.WORKERS


class WorkerRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WorkerRun

    version = factory.SubFactory(WorkerVersionFactory)


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Task

    run = 0
    slug = factory.Sequence(lambda n: f"task-{n}")
    image = "registry.example.com/worker:latest"
    command = "echo hello"
