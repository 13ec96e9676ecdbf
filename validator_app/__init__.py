"""The validator app (闸机 / 车载机): its own top-level folder, sharing ``payclient`` (see README)."""
