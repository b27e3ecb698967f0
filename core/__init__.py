"""What every part of Vraagbaak shares: settings, domain types, errors, logging, the index schema."""
