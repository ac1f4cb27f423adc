"""Departments: membership, managers, intake channels and service standards."""
