"""own-print marks name the image they are drawn on, so a sync that reorders or replaces a product's
images cannot move them onto another picture

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 13:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_product = sa.table(
    "product",
    sa.column("id", sa.Uuid()),
    sa.column("own_print", sa.JSON()),
    sa.column("own_print_image_id", sa.Uuid()),
)
_image = sa.table(
    "productimage",
    sa.column("id", sa.Uuid()),
    sa.column("product_id", sa.Uuid()),
    sa.column("position", sa.Integer()),
    sa.column("created_at", sa.DateTime()),
)


def upgrade() -> None:
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.add_column(sa.Column("own_print_image_id", sa.Uuid(), nullable=True))
    # Until now marks were read on the product's first image: name that image, so they stay where the
    # brand drew them.
    connection = op.get_bind()
    for product_id, own_print in connection.execute(sa.select(_product.c.id, _product.c.own_print)).all():
        if not own_print:
            continue
        first = connection.execute(
            sa.select(_image.c.id)
            .where(_image.c.product_id == product_id)
            .order_by(_image.c.position, _image.c.created_at)
            .limit(1)
        ).scalar()
        if first is not None:
            connection.execute(
                sa.update(_product).where(_product.c.id == product_id).values(own_print_image_id=first)
            )


def downgrade() -> None:
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.drop_column("own_print_image_id")
