from ponos.models import Farm


def create_farm(name):
    """Create a farm with a fresh seed; the seed is only ever shown by this function's caller."""
    return Farm.objects.create(name=name)
