"""`make soak`: run.py drives the stack, faults.py breaks it, traffic.py is Locust's visitors."""
