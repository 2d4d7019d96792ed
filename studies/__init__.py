"""Studies of what the models earn, on markets whose answer is known (not timed: see bench/)."""
