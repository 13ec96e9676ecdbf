"""wallets: the payment password (支付密码) and the password-free limit (免密)

Revision ID: h_apps_0001
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = 'h_apps_0001'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('wallets') as batch_op:
        batch_op.add_column(sa.Column('pay_password_hash', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('password_free_limit_fen', sa.BigInteger(), nullable=False,
                                      server_default=sa.text('100000')))
        batch_op.create_check_constraint(op.f('ck_wallets_password_free_limit_not_negative'),
                                         'password_free_limit_fen >= 0')


def downgrade():
    with op.batch_alter_table('wallets') as batch_op:
        batch_op.drop_constraint(op.f('ck_wallets_password_free_limit_not_negative'), type_='check')
        batch_op.drop_column('password_free_limit_fen')
        batch_op.drop_column('pay_password_hash')
