"""Machine-learned behavioural segments: online clustering of profile feature vectors."""
