"""`make bench`: run.py and the parts of the run only it uses."""
