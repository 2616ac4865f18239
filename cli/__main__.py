"""python -m softmax_exp_cli: the softmax command."""

from .main import run

run()
