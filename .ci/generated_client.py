"""A customer's whole journey through the Python client that
openapi-python-client generates from the served OpenAPI document, used as
generated (no hand edits): register, list products, create a cart without
a body, add a line, check out with an Idempotency-Key, read the order, and
cancel it without a body. Any schema the generator cannot use, or any
answer outside the document, fails here.

    python generated_client.py PACKAGE_DIR BASE_URL
"""
import sys
import uuid

sys.path.insert(0, sys.argv[1])
from orders_client import AuthenticatedClient, Client  # noqa: E402
from orders_client.api.auth import register  # noqa: E402
from orders_client.api.carts import add_item, checkout, create_cart  # noqa: E402
from orders_client.api.orders import cancel, get_order, list_orders  # noqa: E402
from orders_client.api.public import list_products  # noqa: E402
from orders_client.models import (  # noqa: E402
    AddItem,
    AddressInput,
    AddressInputCountry,
    CheckoutRequest,
    Credentials,
    OrderStatus,
    PaymentInput,
    PaymentInputMethod,
)

base = sys.argv[2]
anonymous = Client(base_url=base, raise_on_unexpected_status=True)
email = f"client-{uuid.uuid4().hex[:12]}@example.com"
session = register.sync(client=anonymous, body=Credentials(email=email, password="client password"))
assert session.user.email == email, session
me = AuthenticatedClient(base_url=base, token=session.token, raise_on_unexpected_status=True)

products = list_products.sync(client=me)
product = next(p for p in products.items if p.stock >= 1)
cart = create_cart.sync(client=me)
cart = add_item.sync(client=me, id=cart.id, body=AddItem(product_id=product.id, quantity=1))
assert [line.quantity for line in cart.lines] == [1], cart

body = CheckoutRequest(
    email=email,
    shipping_address=AddressInput(
        full_name="Ada Lovelace",
        line1="1 Main St",
        city="Springfield",
        postal_code="12345",
        country=AddressInputCountry.US,
    ),
    shipping_method="standard",
    payment=PaymentInput(method=PaymentInputMethod.CASH_ON_DELIVERY),
    expected_total=cart.total,
)
order = checkout.sync(client=me, id=cart.id, body=body, idempotency_key=uuid.uuid4().hex)
assert order.status == OrderStatus.PENDING, order
assert order.total == cart.total, (order.total, cart.total)
again = get_order.sync(client=me, id=order.id)
assert again.id == order.id
history = list_orders.sync(client=me)
assert [o.id for o in history.items] == [order.id], history
cancelled = cancel.sync(client=me, id=order.id)
assert cancelled.status == OrderStatus.CANCELLED, cancelled
print(f"generated client: order {order.number} placed for {order.total} and cancelled")
