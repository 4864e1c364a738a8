"""Customers: the people and businesses an organization takes money from, and their details.

Every customer write goes through `kassa.customers.services`; the public JSON form is
`kassa.customers.representations.customer_dict`. This app sits just above core: it imports only
`kassa.platform` and `kassa.core`, and publishes its events through `kassa.core.publishing`.
"""
