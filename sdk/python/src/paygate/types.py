"""The request and answer types, for annotating merchant code:
``from paygate.types import Payment, CreatePayment, Event``. Generated
models (``_models``) and the few hand-written ones (``_types``) in one
place."""

from ._models import *  # noqa: F401,F403
from ._types import AuditEvent as AuditEvent
from ._types import Delivery as Delivery
from ._types import DeliveryAttempt as DeliveryAttempt
from ._types import Event as Event
from ._types import EventData as EventData
from ._types import Page as Page
