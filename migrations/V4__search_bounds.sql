-- contactd schema, version 4: what bounds a search (issue 21).
--
-- A piece longer than every stored phone (or email) matches nothing, and the trigram
-- index would still read the postings of each of its trigrams, over all clients: 7,900
-- digits cost seconds of one worker's CPU. The longest stored value is one step down
-- either index, so the search answers such a piece with [] before it reaches the index.
CREATE INDEX contact_search_by_phone_length ON contact_search_source (length(phone_digits));
CREATE INDEX contact_search_by_email_length ON contact_search_source (length(email));
