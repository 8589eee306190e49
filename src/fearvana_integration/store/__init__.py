"""The customer store: the product's Supabase tables (or their embedded SQLite copy) and our own."""
