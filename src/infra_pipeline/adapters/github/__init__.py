"""The GitHub REST client (`client`) the pipeline talks through."""
