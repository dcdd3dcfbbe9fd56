mod jwt;
