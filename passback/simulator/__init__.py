"""The Skyward OneRoster 1.1 simulator (FastAPI + uvicorn + SQLite): the demo target, the test
double and the load/fault-injection target.  Never imported by production paths.

    from passback.simulator.app import create_app          # ASGI app (in-process tests)
    from passback.simulator.server import SimulatorThread, SimulatorProcess, run_server, tenant_urls
    from passback.simulator.faults import FaultConfig

See ``docs/simulator.md``.
"""
