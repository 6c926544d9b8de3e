"""Small screens over a view: confirmations, forms, prompts."""
