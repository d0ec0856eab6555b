"""The orders process: its timers, the kitchen, and the (simulated) payment provider."""

from config.env import env

# Seconds the stock of a placed order is held before it is paid (then the order is cancelled),
# and seconds a requested payment may take to be confirmed (then it has failed).
ORDERS_RESERVATION_TTL = env.float("ORDERS_RESERVATION_TTL", default=900.0)
ORDERS_PAYMENT_TIMEOUT = env.float("ORDERS_PAYMENT_TIMEOUT", default=300.0)
# Seconds between celery beat's firings of the due timers.
ORDERS_TIMER_SWEEP = env.float("ORDERS_TIMER_SWEEP", default=5.0)
# The kitchen: seconds an order takes to prepare, how many first attempts of each order fail (to
# show the retries), and how many attempts it makes before leaving the order to an operator.
ORDERS_FULFILMENT_SECONDS = env.float("ORDERS_FULFILMENT_SECONDS", default=2.0)
ORDERS_KITCHEN_FAILURES = env.int("ORDERS_KITCHEN_FAILURES", default=0)
ORDERS_KITCHEN_MAX_ATTEMPTS = env.int("ORDERS_KITCHEN_MAX_ATTEMPTS", default=5)
# The payment provider's callbacks are signed with this (HMAC-SHA256).
PAYMENTS_WEBHOOK_SECRET = env.str("PAYMENTS_WEBHOOK_SECRET", default="dev-only-payments-secret")
# The simulated provider: where it sends its answers (empty: in the worker's process, through
# the same checks as the webhook), after how many seconds (a "slow" one: PAYMENTS_SLOW_SECONDS),
# and an outcome to force for every payment (paid, declined, slow, timeout, duplicate).
PAYMENTS_CALLBACK_URL = env.str("PAYMENTS_CALLBACK_URL", default="")
PAYMENTS_SIMULATED_DELAY = env.float("PAYMENTS_SIMULATED_DELAY", default=0.5)
PAYMENTS_SLOW_SECONDS = env.float("PAYMENTS_SLOW_SECONDS", default=10.0)
PAYMENTS_SIMULATED_OUTCOME = env.str("PAYMENTS_SIMULATED_OUTCOME", default="")
