"""What the gateway sends participants: renderers, subscriptions, notifications and delivery."""
