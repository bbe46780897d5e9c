"""The sentences people read, per language: Babel/gettext catalogs (<lang>/LC_MESSAGES/messages.po)."""
