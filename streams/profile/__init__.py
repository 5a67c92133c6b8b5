"""Customer profiles: bounded incremental state, identity merges, and the features rules read."""

from streams.profile.apply import apply_event, to_cents
from streams.profile.codec import ProfileDecodeError, decode_profile, encode_profile
from streams.profile.features import FEATURE_NAMES, FEATURES, Feature, compute_features
from streams.profile.merge import merge_into
from streams.profile.state import DEFAULT_CONFIG, Profile, ProfileConfig

__all__ = [
    "DEFAULT_CONFIG",
    "FEATURES",
    "FEATURE_NAMES",
    "Feature",
    "Profile",
    "ProfileConfig",
    "ProfileDecodeError",
    "apply_event",
    "compute_features",
    "decode_profile",
    "encode_profile",
    "merge_into",
    "to_cents",
]
