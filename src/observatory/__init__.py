"""observatory: a safety-perception observatory for cities."""
