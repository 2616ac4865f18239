"""softmax-exp: softmax regression experiments on Fashion-MNIST with MXNet Gluon.

Importing this package is cheap: MXNet, pandas and matplotlib load only in the
functions that need them.
"""

__version__ = "0.1.0"
