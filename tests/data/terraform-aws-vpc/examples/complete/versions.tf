# trimmed
