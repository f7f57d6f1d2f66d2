"""Agents joining a farm (CreateAgent)."""

import hmac

from django.db import IntegrityError, transaction
from django.utils import timezone

from ponos import states
from ponos.models import GPU, Agent, Farm


class WrongSeed(Exception):
    """The farm's seed does not match: the caller may not join it."""


class UnknownFarm(Exception):
    pass


def check_seed(farm_id, seed):
    """The farm, locked (inside the caller's transaction), once its seed is checked in
    constant time."""
    farm = Farm.objects.select_for_update().filter(pk=farm_id).first()
    if farm is None:
        raise UnknownFarm
    # compare_digest takes the same time wherever the strings differ: the answer's timing
    # tells nothing about how much of a guessed seed was right.
    if not hmac.compare_digest(farm.seed.encode(), seed.encode()):
        raise WrongSeed
    return farm


def _lock_or_create(farm, hostname, resources):
    """The agent of (farm, hostname), locked, and whether it was just created.

    Two registrations of one host at once are serialized on the agent row: the unique
    constraint on (farm, hostname) makes the losing INSERT fail, and it then locks the row
    the winner created.
    """
    # `of` and no ordering: Agent's default ordering joins the farm, whose row the caller
    # already holds (check_seed); only the agent's row is locked here.
    locked = Agent.objects.select_for_update(of=("self",)).order_by()
    agent = locked.filter(farm=farm, hostname=hostname).first()
    if agent is not None:
        return agent, False
    try:
        with transaction.atomic():
            agent = Agent(farm=farm, hostname=hostname, **resources)
            agent.set_token()
            agent.save()
            return agent, True
    except IntegrityError:
        return locked.get(farm=farm, hostname=hostname), False


def _sync_gpus(agent, gpus):
    """Make the agent's GPUs exactly the ones it declared, keyed by its own ids.

    GPUs declared again keep their row, so tasks bound to them stay bound.
    """
    declared = {gpu["gpu_id"]: gpu for gpu in gpus}
    existing = {gpu.gpu_id: gpu for gpu in agent.gpus.all()}
    GPU.objects.filter(agent=agent).exclude(gpu_id__in=list(declared)).delete()
    for gpu_id, values in declared.items():
        gpu = existing.get(gpu_id)
        if gpu is None:
            GPU.objects.create(agent=agent, **values)
            continue
        fields = [name for name, value in values.items() if getattr(gpu, name) != value]
        if fields:
            for name in fields:
                setattr(gpu, name, values[name])
            gpu.save(update_fields=fields)


def register_agent(farm_id, seed, hostname, *, cpu_cores, cpu_frequency, ram_total, gpus=()):
    """Register a host on a farm, or register it again: returns (agent, token, created).

    Raises UnknownFarm or WrongSeed. The seed is checked under the farm row's lock, which a
    regeneration of the seed takes first too: a registration with the old seed is either
    done before the regeneration, which then revokes it, or refused.

    A host registering again lost whatever it was doing (it restarted, or lost its token):
    it gets a new token, the old one stops working, its resources and GPUs are updated, and
    the tasks it held are handled by the dead-agent rule (SPEC §5).
    """
    resources = {"cpu_cores": cpu_cores, "cpu_frequency": cpu_frequency, "ram_total": ram_total}
    now = timezone.now()
    with transaction.atomic():
        farm = check_seed(farm_id, seed)
        agent, created = _lock_or_create(farm, hostname, resources)
        if not created:
            for name, value in resources.items():
                setattr(agent, name, value)
        token = agent.set_token()
        # Registration is a sign of life: the agent is active until it stops polling.
        agent.last_ping = now
        agent.save(update_fields=[*resources, "token_hash", "last_ping"])
        if not created:
            # Lock order: agent row (held here), then the process, then the task rows. The
            # tasks go before the GPUs: deleting a GPU locks the tasks bound to it, which
            # must not happen before their processes are locked, as a poll releasing the
            # same tasks would lock them.
            states.release_agent_tasks(agent, now=now)
        _sync_gpus(agent, gpus)
    return agent, token, created
