enum _PlaceholderAriadneTesting {}
