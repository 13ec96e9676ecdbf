"""auth: signed access tokens — signing keys by use, and each user's "tokens issued before this are revoked"

``signing_keys.use`` tells the QR signing keys (``qr``) from the keys that sign
access tokens (``access``); both are rotated and published the same way.
``users.tokens_revoked_at`` is the database's record of a staff revocation (an
account disabled, its password or role changed): the Redis deny-list is
rebuilt from it (and from revoked refresh tokens) when Redis loses its data.

Revision ID: a001
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = 'a001'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('signing_keys') as batch_op:
        batch_op.add_column(sa.Column('use', sa.String(length=16), server_default='qr', nullable=False))
    with op.batch_alter_table('users') as batch_op:
        batch_op.add_column(sa.Column('tokens_revoked_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('users') as batch_op:
        batch_op.drop_column('tokens_revoked_at')
    with op.batch_alter_table('signing_keys') as batch_op:
        batch_op.drop_column('use')
