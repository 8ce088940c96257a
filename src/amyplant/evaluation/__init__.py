"""`amyplant eval`: detection, verification, identification and age/gender figures on public data formats."""
