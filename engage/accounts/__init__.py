"""Accounts: console and API users, roles, password hashing, TOTP and API tokens.

The tables live in ``engage/storage/accounts_models.py`` (where every table is registered);
``service`` holds the operations the CLI, the console and the API all call.
"""
