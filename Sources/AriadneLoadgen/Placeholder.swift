enum _PlaceholderAriadneLoadgen {}
