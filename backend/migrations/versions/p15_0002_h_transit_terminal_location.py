"""transit: where a terminal's stop or station is (its taps count in that zone's KPIs), taps by terminal and time

Revision ID: p15_0002
Revises: p15_0001
Create Date: 2026-12-03 16:20:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'p15_0002'
down_revision = 'p15_0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('transit_terminals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('latitude', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('longitude', sa.Float(), nullable=True))
    op.create_index('ix_transit_records_terminal_at', 'transit_records', ['terminal_id', 'at'], unique=False)


def downgrade():
    op.drop_index('ix_transit_records_terminal_at', table_name='transit_records')
    with op.batch_alter_table('transit_terminals', schema=None) as batch_op:
        batch_op.drop_column('longitude')
        batch_op.drop_column('latitude')
