"""The per-batch computation: decode, apply to profiles, evaluate rules, diff memberships."""
