"""`amyplant up` and `amyplant status`: the whole system on one machine."""
