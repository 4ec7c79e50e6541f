"""The embedded demo model (SmolLM2-135M): tiny, offline, and not a coach.

It is there so that Stepwise runs with no key and no network. Pages tell owners when
it answers (`COACH_LLM_IS_DEMO`), and its replies are marked wherever they are read.
"""

from django.conf import settings

DEMO_MODEL_NAME = "SmolLM2-135M-Instruct"


def demo_in_use() -> bool:
    return settings.COACH_LLM_IS_DEMO


def is_demo_model(model_name: str) -> bool:
    return model_name == DEMO_MODEL_NAME
