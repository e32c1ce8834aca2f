"""Apps written the way FastAPI's and Starlette's documentation writes them, run unchanged.

Each module follows one documented example: the same framework calls in the same order, with our
own names and strings. They are served through the Adapter and through `asgiway dev` exactly as a
user would serve them, to show what works on Lambda unchanged and what fails loudly.
"""
