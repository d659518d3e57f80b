"""Packaging for Spyder, a scalable and polite web crawler on ZeroMQ and tornado."""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"',
                    (HERE / "spyder" / "__init__.py").read_text()).group(1)

setup(
    name="spyder",
    version=VERSION,
    description="A scalable and polite web crawler built on ZeroMQ and tornado",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["spyder", "spyder.*"]),
    package_data={"spyder": ["spyder_template/*", "spyder_template/log/.keep",
                             "console/static/*"]},
    include_package_data=True,
    install_requires=[
        "pyzmq>=25",
        "tornado>=6.2",
        "msgpack>=1.0",
        "protego>=0.3",
        "selectolax>=0.3.21",
        "ada-url>=4.0",
        "warcio>=1.7",
        "defusedxml>=0.7",
        "prometheus_client>=0.17",
        # the workers' HTTP client (HTTP_CLIENT="curl"): about half the CPU per fetch of
        # tornado's pure-Python client, connections kept alive; also needed for PROXY_HOST
        "pycurl>=7.45",
    ],
    extras_require={
        # uvloop: the end-to-end tests run a crawl on each event loop (EVENT_LOOP)
        "test": ["pytest>=7", "pytest-timeout>=2.1", "hypothesis>=6", "redis>=5", "uvloop>=0.17"],
        # FRONTIER_STORE = "redis://...": the frontier on a Redis Cluster (docs/cluster.md)
        "cluster": ["redis>=5"],
        # EVENT_LOOP = "uvloop" (or "auto", the default, when it is installed): uvloop's event
        # loop for master, workers and logsink, ~7 % less CPU per page (docs/performance.md)
        "uvloop": ["uvloop>=0.17"],
    },
    entry_points={"console_scripts": ["spyder = spyder.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: Apache Software License",
        "Topic :: Internet :: WWW/HTTP :: Indexing/Search",
    ],
)
