"""Accounts: console and API users, roles, password hashing, TOTP and API tokens.

The tables live in ``engage/storage/tables/accounts.py`` (every table is in
``engage/storage/tables/``);
``service`` holds the operations the CLI, the console and the API all call.
"""
