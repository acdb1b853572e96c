"""The request and answer types, for annotating merchant code:
``from paygate.types import Payment, CreatePayment, Event``. Generated
models (``_models``) and the generic list ``Page`` (``_types``) in one
place."""

from ._models import *  # noqa: F401,F403
from ._types import Page as Page
