from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ponos import states
from ponos.models import Agent, Farm, generate_seed


def create_farm(name):
    """Create a farm with a fresh seed; the seed is only ever shown by this function's caller."""
    return Farm.objects.create(name=name)


def regenerate_seed(farm_id, now=None):
    """Give a farm a new seed, as when the old one leaked: returns (farm, agents revoked,
    tasks released).

    Whoever held the old seed may have registered agents with it, so every agent of the
    farm loses its token: it must register again, with the new seed. The tasks they held are
    handled as at a re-registration (SPEC §5): pending ones go back to the queue, running
    ones end in error, stopping ones stopped.
    """
    now = now or timezone.now()
    with transaction.atomic():
        farm = Farm.objects.select_for_update().get(pk=farm_id)
        farm.seed = generate_seed()
        farm.save(update_fields=["seed"])
        # Lock order of a registration: agent rows, then processes, then tasks. `of` and no
        # ordering, as in ponos.agents: the farm row is locked above already.
        agents = list(Agent.objects.select_for_update(of=("self",)).order_by().filter(farm=farm))
        for agent in agents:
            # A token nobody knows: the old one stops working, and no new one is given out.
            agent.set_token()
        Agent.objects.bulk_update(agents, ["token_hash"])
        released = states.release_tasks(Q(agent_id__in=[agent.pk for agent in agents]), now)
    return farm, len(agents), released
