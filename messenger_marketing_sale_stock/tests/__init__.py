from . import test_delivery
