"""Istio's validation rules (CRD schema constraints, CEL rules and webhook checks).

The rules run on models that already have the right shape; each problem is reported
with the field path it concerns.
"""
