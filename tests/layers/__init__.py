"""Tests of vps_d2.layers."""
