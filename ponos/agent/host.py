"""What the agent tells the server about its machine: resources, loads and GPUs."""

import logging
import os

logger = logging.getLogger(__name__)

FAKE_GPU_RAM = 8 * 1024**3


def cpu_cores():
    try:
        # The CPUs this process may use, which a container or taskset may restrict
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpu_frequency():
    """Highest frequency of a CPU core in Hz, or 0 when the system does not tell."""
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq") as f:
            return int(f.read().strip()) * 1000  # kHz
    except (OSError, ValueError):
        pass
    frequencies = []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "cpu MHz":
                    frequencies.append(float(value))
    except (OSError, ValueError):
        pass
    if frequencies:
        return int(max(frequencies) * 1_000_000)
    logger.warning("Could not find the CPU frequency; declaring 0 Hz")
    return 0


def read_meminfo():
    """Fields of /proc/meminfo in bytes."""
    fields = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            parts = value.split()
            if parts:
                fields[key] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return fields


def ram_total():
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def ram_load():
    """Fraction of the memory in use, between 0 and 1."""
    try:
        meminfo = read_meminfo()
        total, available = meminfo["MemTotal"], meminfo["MemAvailable"]
    except (OSError, KeyError, ValueError):
        total = ram_total()
        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    if total <= 0:
        return 0.0
    return min(max(1 - available / total, 0.0), 1.0)


def cpu_load():
    """Load average over the last minute."""
    return os.getloadavg()[0]


def fake_gpus(count):
    """GPUs that exist only in the server's eyes, to test GPU assignment without one."""
    return [
        {
            "id": f"fake-gpu-{index}",
            "name": f"Fake GPU {index}",
            "index": index,
            "ram_total": FAKE_GPU_RAM,
        }
        for index in range(count)
    ]


def resources(config):
    """The body of a registration, but for the farm and its seed."""
    return {
        "hostname": config.hostname,
        "cpu_cores": cpu_cores(),
        "cpu_frequency": cpu_frequency(),
        "ram_total": ram_total(),
        "gpus": fake_gpus(config.fake_gpu),
    }


def loads():
    """Query parameters of a poll."""
    return {"cpu_load": round(cpu_load(), 3), "ram_load": round(ram_load(), 4)}
