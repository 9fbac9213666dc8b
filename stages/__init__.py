"""DVC stages of the IMDB sentiment and EN->KO translation pipeline."""
