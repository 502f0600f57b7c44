"""``python -m skorche._worker``: the program of a process stage's worker processes."""

from skorche._skorche import serve_worker

if __name__ == "__main__":
    serve_worker()
