"""``$feature_flag_called`` exposure events: building, de-duplicating and delivering them."""
