"""Small utilities shared across vps_d2."""
