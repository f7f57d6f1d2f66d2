from setuptools import find_packages, setup

setup(
    name="arkindex-ponos",
    version="1.0.0",
    description="Arkindex processes and Ponos: DAGs of tasks on farms of pull-based agents",
    packages=find_packages(exclude=["tests", "tests.*", "bench", "bench.*"]),
    # The templates and static files of the pages for humans.
    package_data={"pages": ["templates/pages/*.html", "static/pages/*"]},
    python_requires=">=3.11",
    entry_points={"console_scripts": ["ponos-agent = ponos.agent.main:main"]},
)
