from . import controllers, models, wizards
from .hooks import post_load
